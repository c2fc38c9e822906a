"""Which evaluation protocol scores which dataset kind and direction, without torch: the names,
kinds, scored directions, main scores and label sets that a config check, a dry run or a study's
objective reads (trainer.eval.evaluate implements each protocol under the same name and takes
its attributes from here, so there is one table).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from trainer.core.registry import Registry


class EvaluationError(ValueError):
    """A dataset / direction pair with no evaluation protocol; one line."""


@dataclass(frozen=True)
class ProtocolSpec:
    kind: str                        # the dataset kind it scores (trainer.data's DatasetInfo.kind)
    directions: tuple[str, ...]      # the translated directions it scores
    main_metric: str                 # its main score (higher is better: val_score, tuning's goal)
    classes: str | None              # the one label set it is built for (palette, judge), or any


# name -> ProtocolSpec; evaluate.PROTOCOLS registers each implementation with these attributes.
SPECS = Registry("protocol", EvaluationError)
SPECS.register("segmentation")(ProtocolSpec("segmentation", ("AtoB",), "mean_iou",
                                            "cityscapes-19"))
SPECS.register("fcn-score")(ProtocolSpec("segmentation", ("BtoA",), "mean_iou", "cityscapes-19"))
SPECS.register("maps")(ProtocolSpec("maps", ("AtoB", "BtoA"), "maps_pixel_acc", None))


def spec_attrs(name: str) -> dict:
    """`name`'s spec as the attributes its implementation is registered with."""
    return asdict(SPECS[name])


def protocol_for(kind: str, direction: str, classes: str | None = None) -> str:
    """Protocol name for a dataset kind and evaluated direction (the results row's `protocol`).
    `classes`: the dataset's label set (its registry entry's); a protocol built for one label
    set (palette, metrics, judge) refuses another instead of scoring it silently wrong."""
    for name in SPECS:
        entry = SPECS[name]
        if entry.kind == kind and direction in entry.directions:
            if entry.classes and classes and classes != entry.classes:
                raise EvaluationError(f"protocol {name!r} scores the {entry.classes} label set, "
                                      f"not {classes!r}; register a protocol for it")
            return name
    kinds = sorted({SPECS[name].kind for name in SPECS})
    raise EvaluationError(f"dataset kind {kind!r} has no evaluation protocol (valid kinds: "
                          f"{', '.join(kinds)}; label-only sets only feed the unpaired Y domain)")


def main_metric(protocol: str) -> str:
    """The evaluation column that is `protocol`'s main score (mean_iou, maps_pixel_acc)."""
    return SPECS[protocol].main_metric
