"""The networks: CycleGAN's ResNet generator and PatchGAN, pix2pix's U-Net, the fused pack builder."""
