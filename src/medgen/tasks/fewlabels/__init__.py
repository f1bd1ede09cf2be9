"""Label-efficient segmentation with diffusion features (Baranchuk et al. 2022): pixel MLPs on a
diffusion U-Net's decoder activations, trained on N labelled slices, against U-Nets trained
from scratch on the same slices."""
