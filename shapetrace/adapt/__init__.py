"""``shapetrace adapt``: a model declared for N input channels, its pretrained weights folded in
(:mod:`shapetrace.adapt.fold`), and the first convolution found and rewritten
(:mod:`shapetrace.adapt.stem`)."""
