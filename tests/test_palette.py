"""The 19-class palette and the id mapping against the official `cityscapesscripts` labels."""
from __future__ import annotations

import numpy as np
from cityscapesscripts.helpers.labels import labels as OFFICIAL

from trainer.data import palette

EVALUATED = [l for l in OFFICIAL if 0 <= l.trainId < 255]


def test_classes_match_cityscapesscripts():
    assert len(EVALUATED) == palette.NUM_CLASSES == 19
    for label in EVALUATED:
        train_id, name, label_id, colour = palette.CLASSES[label.trainId]
        assert (train_id, name, label_id, colour) == (label.trainId, label.name, label.id, label.color)
        assert tuple(palette.PALETTE[label.trainId]) == label.color


def test_label_ids_to_train_ids_matches_every_official_id():
    ids = np.array([[l.id for l in OFFICIAL if l.id >= 0]], np.uint8)        # [1, 34]
    expected = [l.trainId if 0 <= l.trainId < 255 else 255 for l in OFFICIAL if l.id >= 0]
    assert palette.label_ids_to_train_ids(ids)[0].tolist() == expected
    assert int(ids.max()) == palette.MAX_LABEL_ID


def test_round_trip_and_colorize():
    train = np.array([[0, 5, 18, 255]], np.uint8)
    back = palette.label_ids_to_train_ids(palette.train_ids_to_label_ids(train))
    assert back.tolist() == train.tolist()
    rgb = palette.colorize(train)
    assert rgb.shape == (1, 4, 3) and rgb.dtype == np.uint8
    assert rgb[0].tolist() == [[128, 64, 128], [153, 153, 153], [119, 11, 32], [0, 0, 0]]
