"""The default set of research topics. Curators edit them in the admin afterwards."""

from django.db import migrations

TOPICS = [
    ("Model merging", "model-merging",
     "Combining fine-tuned models into one without retraining: weight averaging, task "
     "arithmetic, model fusion.",
     ["model merging", "merging models", "merge models", "merged model", "model fusion",
      "weight averaging", "task arithmetic", "task vectors", "model soups", "fisher weighted averaging"]),
    ("Diffusion and image/video generation", "diffusion-generation",
     "Generative models for images and video: diffusion models, GANs, editing and customization.",
     ["diffusion model", "diffusion models", "video diffusion", "text-to-image", "image generation",
      "video generation", "image synthesis", "generative adversarial network", "GAN", "GANs",
      "image editing", "image customization", "image animation", "visual generation"]),
    ("Multimodal and vision-language models", "multimodal-vision-language",
     "Models that see and read: vision-language pre-training, multimodal LLMs, image-text tasks.",
     ["vision-language", "vision language model", "VLM", "VLMs", "multimodal", "multi-modal",
      "CLIP", "image-text", "visual question answering", "MLLM", "multimodal large language model"]),
    ("Large language models", "large-language-models",
     "Large language models: pre-training, instruction tuning, prompting, evaluation.",
     ["large language model", "large language models", "LLM", "LLMs", "language model",
      "language models", "instruction tuning", "in-context learning", "natural language processing",
      "text generation", "NLP"]),
    ("Recommender systems", "recommender-systems",
     "Recommendation and click-through rate prediction: user modelling, feature interactions, "
     "embedding tables.",
     ["recommender system", "recommender systems", "recommendation", "recommendations",
      "click-through rate", "click-through", "CTR prediction", "CTR", "collaborative filtering",
      "user feedback", "bundle construction", "user-item", "feature interaction", "feature interactions",
      "embedding tables", "online services"]),
    ("Face analysis", "face-analysis",
     "Face recognition, facial attribute and expression analysis, face generation.",
     ["face recognition", "face", "faces", "facial", "facial analysis", "face perception",
      "facial expression", "face verification", "facial landmark"]),
    ("Domain adaptation and generalization", "domain-adaptation",
     "Learning that holds up when the data changes: domain adaptation and generalization, "
     "out-of-distribution robustness.",
     ["domain adaptation", "domain generalization", "out-of-distribution", "OOD",
      "distribution shift", "domain shift", "unsupervised domain adaptation", "target domain",
      "source domain", "unseen domains"]),
    ("Few-shot learning", "few-shot-learning",
     "Learning from a handful of examples: few-shot and zero-shot learning, meta-learning.",
     ["few-shot", "few-shot learning", "meta-learning", "transductive few-shot", "zero-shot",
      "low-shot", "support set", "novel classes"]),
    ("3D and point clouds", "3d-point-clouds",
     "3D vision: point clouds, Gaussian splatting, neural radiance fields, 3D/4D reconstruction.",
     ["3D", "point cloud", "point clouds", "gaussian splatting", "gaussian splats", "NeRF",
      "neural radiance field", "3D reconstruction", "4D", "mesh", "depth estimation"]),
    ("Efficient training and ML systems", "efficient-ml-systems",
     "Making models cheap to train and serve: distributed training, mixture-of-experts, "
     "quantization, sparse and efficient attention, ML infrastructure.",
     ["distributed training", "mixture-of-experts", "MoE", "inference system", "checkpointing",
      "throughput", "memory footprint", "quantization", "quantized", "efficient attention",
      "sparse attention", "parallelism", "GPU", "GPUs", "ML systems", "AutoML", "speedup"]),
    ("Feature learning and selection", "feature-learning",
     "What models represent and which inputs matter: feature learning, feature selection and "
     "ranking, representation analysis, sparse autoencoders.",
     ["feature selection", "feature learning", "feature representations", "feature ranking",
      "feature engineering", "feature construction", "feature set", "feature vectors",
      "sparse autoencoders", "representation learning", "feature similarity"]),
    ("Segmentation", "segmentation",
     "Pixel-level understanding: semantic, instance and panoptic segmentation, medical "
     "segmentation, segment-anything models.",
     ["segmentation", "semantic segmentation", "image segmentation", "instance segmentation",
      "panoptic segmentation", "medical image segmentation", "segment anything", "SAM"]),
    ("Knowledge distillation", "knowledge-distillation",
     "Teaching small models with big ones: knowledge distillation, dataset distillation, "
     "model compression.",
     ["knowledge distillation", "distillation", "distill", "teacher-student", "teacher model",
      "student model", "dataset distillation", "model compression"]),
    ("Theory of deep learning", "deep-learning-theory",
     "Why deep learning works: generalization, double descent, overparameterization, neural "
     "collapse, implicit bias, kernels.",
     ["double descent", "overparameterization", "overparameterized", "generalization bound",
      "neural collapse", "implicit bias", "simplicity bias", "shortcut learning",
      "neural tangent kernel", "infinite width", "benign overfitting", "category theory",
      "theoretical analysis", "optimization-generalization"]),
    ("Self-supervised and contrastive learning", "self-supervised-learning",
     "Learning without labels: self-supervised, contrastive and masked-modelling pre-training.",
     ["self-supervised", "self-supervised learning", "contrastive learning", "contrastive",
      "masked image modeling", "masked autoencoders", "barlow twins", "positive pairs",
      "negative pairs", "unlabeled data"]),
    ("Transformers and attention", "transformers-attention",
     "The transformer architecture: attention mechanisms, vision transformers, normalization "
     "and stability.",
     ["transformer", "transformers", "attention", "self-attention", "vision transformer", "ViT",
      "attention mechanism"]),
    ("Fine-tuning and adaptation", "fine-tuning",
     "Adapting pre-trained models: fine-tuning, parameter-efficient methods such as LoRA, "
     "prompt tuning and adapters.",
     ["fine-tuning", "fine-tuned", "finetuning", "parameter-efficient fine-tuning", "LoRA",
      "low-rank adaptation", "prompt tuning", "adapter", "adapters", "tuning pre-trained"]),
    ("Multi-task learning", "multi-task-learning",
     "Learning many tasks at once: multi-task learning, task interference, multi-objective "
     "optimization.",
     ["multi-task learning", "multi-task", "multitask", "multi-objective", "multi-objective optimization",
      "task interference", "pareto"]),
    ("Retrieval and search", "retrieval-search",
     "Finding things fast: dense and multi-vector retrieval, image retrieval, hashing, nearest "
     "neighbour search, retrieval-augmented generation.",
     ["retrieval", "image retrieval", "dense retrieval", "multi-vector retrieval",
      "nearest neighbor search", "hashing", "retrieval-augmented generation", "RAG", "search engine"]),
    ("Medical imaging", "medical-imaging",
     "Machine learning for medicine: medical image analysis, ophthalmology, radiology, clinical "
     "data.",
     ["medical image", "medical images", "medical imaging", "ophthalmic", "radiology", "MRI",
      "clinical", "healthcare", "medical"]),
    ("Optimization", "optimization",
     "How models are trained: optimizers, gradient methods, convergence, learned optimizers.",
     ["optimizer", "optimizers", "optimization algorithm", "optimization algorithms",
      "gradient descent", "stochastic gradient descent", "Adam", "learning rate", "convergence",
      "frank-wolfe", "optimization dynamics", "curvature"]),
    ("Probabilistic and Bayesian methods", "probabilistic-methods",
     "Reasoning under uncertainty: variational inference, probabilistic programming, Bayesian "
     "models, information-theoretic objectives.",
     ["variational inference", "probabilistic programming", "bayesian", "information bottleneck",
      "mutual information", "GFlowNets", "generative flow networks", "uncertainty", "divergence",
      "expectation-maximization"]),
    ("Video and motion understanding", "video-motion",
     "Understanding what moves: video understanding, human motion and pose, object tracking, "
     "action recognition.",
     ["video understanding", "motion capture", "human motion", "object tracking", "tracking",
      "action recognition", "pose estimation", "monocular video", "spatiotemporal", "animation"]),
]


def add_topics(apps, schema_editor):
    Topic = apps.get_model("papers", "Topic")
    for name, slug, description, keywords in TOPICS:
        Topic.objects.update_or_create(
            slug=slug, defaults={"name": name, "description": description, "keywords": keywords}
        )


def remove_topics(apps, schema_editor):
    Topic = apps.get_model("papers", "Topic")
    Topic.objects.filter(slug__in=[slug for _, slug, _, _ in TOPICS]).delete()


class Migration(migrations.Migration):
    dependencies = [("papers", "0001_initial")]

    operations = [migrations.RunPython(add_topics, remove_topics)]
