"""The Cityscapes 19-class palette and the label-id -> train-id mapping, in one place.

Cityscapes stores *label ids* (0..33) in `*_gtFine_labelIds.png`; training and evaluation use the
19 *train ids* (0..18) and 255 for "ignore". Colours are the official ones (cityscapesscripts'
`labels.py`); `tests/test_palette.py` checks them against that package.
"""
from __future__ import annotations

import numpy as np

IGNORE = 255  # train id of every pixel that is not one of the 19 evaluated classes

# (train id, name, label id, RGB colour)
CLASSES: tuple[tuple[int, str, int, tuple[int, int, int]], ...] = (
    (0, "road", 7, (128, 64, 128)),
    (1, "sidewalk", 8, (244, 35, 232)),
    (2, "building", 11, (70, 70, 70)),
    (3, "wall", 12, (102, 102, 156)),
    (4, "fence", 13, (190, 153, 153)),
    (5, "pole", 17, (153, 153, 153)),
    (6, "traffic light", 19, (250, 170, 30)),
    (7, "traffic sign", 20, (220, 220, 0)),
    (8, "vegetation", 21, (107, 142, 35)),
    (9, "terrain", 22, (152, 251, 152)),
    (10, "sky", 23, (70, 130, 180)),
    (11, "person", 24, (220, 20, 60)),
    (12, "rider", 25, (255, 0, 0)),
    (13, "car", 26, (0, 0, 142)),
    (14, "truck", 27, (0, 0, 70)),
    (15, "bus", 28, (0, 60, 100)),
    (16, "train", 31, (0, 80, 100)),
    (17, "motorcycle", 32, (0, 0, 230)),
    (18, "bicycle", 33, (119, 11, 32)),
)
NUM_CLASSES = len(CLASSES)  # 19
CLASS_NAMES: tuple[str, ...] = tuple(c[1] for c in CLASSES)


def iou_column(class_name: str) -> str:
    """Results column of one class's IoU: `iou_<name>`, spaces -> `_` (iou_traffic_light)."""
    return "iou_" + class_name.replace(" ", "_")


TRAIN_ID: dict[str, int] = {c[1]: c[0] for c in CLASSES}
PALETTE = np.array([c[3] for c in CLASSES], dtype=np.uint8)  # [19, 3] RGB, row = train id
MAX_LABEL_ID = 33  # label ids above this (and -1, license plate) are not valid Cityscapes ids

# [256] lookup table label id -> train id (255 for every id that is not evaluated)
LABEL_TO_TRAIN = np.full(256, IGNORE, dtype=np.uint8)
for _train_id, _name, _label_id, _rgb in CLASSES:
    LABEL_TO_TRAIN[_label_id] = _train_id
TRAIN_TO_LABEL = np.array([c[2] for c in CLASSES] + [0], dtype=np.uint8)  # 255 -> "unlabeled" (0)


def label_ids_to_train_ids(label_ids: np.ndarray) -> np.ndarray:
    """[H, W] uint8 Cityscapes label ids -> [H, W] uint8 train ids (255 = ignore)."""
    return LABEL_TO_TRAIN[label_ids]


def train_ids_to_label_ids(train_ids: np.ndarray) -> np.ndarray:
    """[H, W] uint8 train ids (255 = ignore) -> [H, W] uint8 Cityscapes label ids (ignore -> 0)."""
    return TRAIN_TO_LABEL[np.minimum(train_ids, NUM_CLASSES)]


def colorize(train_ids: np.ndarray) -> np.ndarray:
    """[H, W] uint8 train ids -> [H, W, 3] uint8 RGB in the palette; ignore pixels are black."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[:NUM_CLASSES] = PALETTE
    return lut[train_ids]
