"""Heatmap codecs: Gaussian/DARK/UDP targets, decoders, flip test helpers.

>>> from hrnet_zoo.codecs import decode_heatmaps, HeatmapCodec
>>> coords, scores = decode_heatmaps(heatmaps, "dark")     # N×K×2 heatmap pixels, N×K
"""
from hrnet_zoo.codecs.codec import HeatmapCodec
from hrnet_zoo.codecs.dark import opencv_gaussian_kernel
from hrnet_zoo.codecs.decode import DECODE_METHODS, decode_heatmaps
from hrnet_zoo.codecs.flip import default_flip_pairs, flip_back, flip_keypoints
from hrnet_zoo.codecs.gaussian import msra_targets, udp_targets, unbiased_targets

__all__ = [
    "DECODE_METHODS",
    "HeatmapCodec",
    "decode_heatmaps",
    "default_flip_pairs",
    "flip_back",
    "flip_keypoints",
    "msra_targets",
    "opencv_gaussian_kernel",
    "udp_targets",
    "unbiased_targets",
]
