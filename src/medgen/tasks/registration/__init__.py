"""Deformable registration of same-level slices: a VoxelMorph-style network trained with a
diffusion prior's denoised images, its peers (ANTs SyN, SimpleITK demons) and the metrics
against the built-in data's true displacement (`medgen.data.synth.truth`)."""
