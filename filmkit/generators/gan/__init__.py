"""Faces from a GAN trained on the artist's own photos.

* :mod:`~filmkit.generators.gan.networks`: the DCGAN generator and discriminator
  (Radford, Metz & Chintala 2015) laid out like pytorch/examples' ``dcgan``, so
  its ``netG_epoch_N.pth`` files load as they are; reading every weights file
  the backends accept;
* :mod:`~filmkit.generators.gan.train`: training with DiffAugment, an EMA
  generator and checkpoints that resume bit-for-bit after an interruption;
* :mod:`~filmkit.generators.gan.walk`: latent vectors per seed and smooth,
  looping, keyed or sound-driven paths through them (numpy only);
* :mod:`~filmkit.generators.gan.backends`: ``model/gan`` (trains) and
  ``image/gan`` (draws one face per seed).
"""
