"""Heads: representation heads (V2 concat, V2p pyramid) and task heads (heatmaps, classes, segments)."""
from hrnet_zoo.heads.classification import HRNetClassificationHead
from hrnet_zoo.heads.deconv import DeconvHead, MultiScaleDeconvHead
from hrnet_zoo.heads.heatmap import HeatmapHead, init_prediction_layer
from hrnet_zoo.heads.representation import HRFPN, concat_branches
from hrnet_zoo.heads.segmentation import SegmentationHead

__all__ = ["HRFPN", "HRNetClassificationHead", "HeatmapHead", "SegmentationHead", "concat_branches"]
__all__ += ["DeconvHead", "MultiScaleDeconvHead"]
__all__ += ["init_prediction_layer"]
