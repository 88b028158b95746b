"""Helpers for the course "CNNs for Image Processing".

One concept per module; each module's docstring says which chapters use it:

- :mod:`course_utils.device`: pick cuda, mps or cpu (every chapter)
- :mod:`course_utils.scale`: the CPU-vs-GPU size switch (every chapter)
- :mod:`course_utils.data`: real datasets with offline fallbacks (every
  chapter)
- :mod:`course_utils.conv`: convolution arithmetic (chapter 1, then 2 and 5)
- :mod:`course_utils.summary`: per-layer shapes, memory, parameters and MACs
  (chapter 2, then 5 and 6)
- :mod:`course_utils.architectures`: LeNet-5, AlexNet, VGG, Inception as
  plain modules (chapter 2)
- :mod:`course_utils.initialization`: init schemes and variance propagation
  (chapter 3)
- :mod:`course_utils.batchnorm`: batch normalization from scratch, momentum
  conventions (chapter 4)
- :mod:`course_utils.resnet`: residual blocks, torchvision-compatible
  ResNets, small nets (chapter 5)
- :mod:`course_utils.densenet`: dense blocks, transitions, DenseNet-BC
  (chapter 5)
- :mod:`course_utils.metrics`: PSNR and a differentiable SSIM (chapter 6)
- :mod:`course_utils.autoencoder`: convolutional autoencoders with four
  upsamplings (chapter 6)
- :mod:`course_utils.noise`: Gaussian noise on the 0-255 scale (chapter 6)
- :mod:`course_utils.patches`: training photos, held-out photos and patches
  (chapter 6)
- :mod:`course_utils.dncnn`: DnCNN and batch-norm folding (chapter 6)
- :mod:`course_utils.ffdnet`: FFDNet, DnCNN's faster successor (chapter 6)
- :mod:`course_utils.denoiser_training`: training script and checkpoints for
  both (chapter 6)
- :mod:`course_utils.denoise`: Gaussian and BM3D baselines, trained models
  on whole images, side-by-side evaluation (chapter 6)
- :mod:`course_utils.style`: Gram matrices, style and content losses
  (chapter 7)
- :mod:`course_utils.features`: VGG-19 and random multi-scale feature
  extractors (chapter 7)
- :mod:`course_utils.synthesis`: optimizing the pixels, images in and out
  (chapter 7)
- :mod:`course_utils.augment`: label-preserving augmentation, test-time
  crops (chapter 8)
- :mod:`course_utils.early_stopping`: stop on the validation loss, restore
  the best weights (chapter 8)
- :mod:`course_utils.calibration`: reliability diagrams, ECE, temperature
  scaling (chapter 8)
- :mod:`course_utils.lr_range`: the learning-rate range test (chapter 8)
- :mod:`course_utils.detection`: digit canvases with boxes, box drawing,
  mean average precision (chapter 9)
- :mod:`course_utils.imagenet`: ILSVRC results, torchvision's ImageNet
  weights offline (chapters 7 and 9)
- :mod:`course_utils.plot`: image grids and feature maps (every chapter)
- :mod:`course_utils.train`: a small training loop with a progress bar
  (chapters 1, 3–9)
- :mod:`course_utils.student`: the setup every assignment notebook runs
  first (every assignment)
- :mod:`course_utils.grading`: what grading needs beyond nbgrader (every
  assignment)
- :mod:`course_utils.sphinx_offline`: serves MathJax from the book itself
  (book build)
"""

__version__ = "0.1.0"
