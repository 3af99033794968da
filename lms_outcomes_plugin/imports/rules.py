"""Canvas's rules for an outcome's scoring: calculation methods, their defaults, the rubric."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from lms_outcomes_plugin.records import Rating

CALCULATION_METHODS = (
    "decaying_average",
    "weighted_average",
    "standard_decaying_average",
    "n_mastery",
    "highest",
    "latest",
    "average",
)
DEFAULT_CALCULATION_INTS = {
    "decaying_average": 65,
    "standard_decaying_average": 65,
    "weighted_average": 65,
    "n_mastery": 5,
}
#: Canvas's scale for a new outcome imported without ratings.
DEFAULT_RATINGS = (
    Rating(5.0, "Exceeds Expectations"),
    Rating(3.0, "Meets Expectations"),
    Rating(0.0, "Does Not Meet Expectations"),
)
DEFAULT_MASTERY_POINTS = 3.0


def default_calculation_method(new_decaying_average: bool) -> str:
    return "standard_decaying_average" if new_decaying_average else "decaying_average"


@lru_cache(maxsize=1024)
def scoring(
    method: str | None, calculation_int: int | None, new_decaying_average: bool
) -> tuple[str, int | None]:
    """The method and int stored for a row's cells: the default method for a blank one, the
    feature flag's alias, and the method's default int for a blank int."""
    stored = stored_calculation_method(
        method or default_calculation_method(new_decaying_average), new_decaying_average
    )
    if calculation_int is None:
        calculation_int = DEFAULT_CALCULATION_INTS.get(stored)
    return stored, calculation_int


def stored_calculation_method(method: str, new_decaying_average: bool) -> str:
    """The feature flag aliases one decaying method to the other before validation."""
    if new_decaying_average and method == "weighted_average":
        return "decaying_average"
    if not new_decaying_average and method == "standard_decaying_average":
        return "decaying_average"
    return method


@dataclass(frozen=True, slots=True)
class Rubric:
    ratings: tuple[tuple[float, str], ...]  # highest first
    mastery_points: float
    points_possible: float


@lru_cache(maxsize=4096)
def rubric(ratings: tuple[Rating, ...], mastery_points: float | None) -> Rubric:
    """Ratings sorted highest first; mastery defaults to the top rating; no ratings at all give
    Canvas's default 5/3/0 scale."""
    if not ratings and mastery_points is None:
        ratings, mastery_points = DEFAULT_RATINGS, DEFAULT_MASTERY_POINTS
    # Cached: a file has few distinct scales, and each import would sort each row's again.
    ordered = sorted(ratings, key=lambda rating: rating.points, reverse=True)
    top = ordered[0].points if ordered else 0.0
    return Rubric(
        ratings=tuple((rating.points, rating.description) for rating in ordered),
        mastery_points=top if mastery_points is None else mastery_points,
        points_possible=top,
    )


#: Canvas's OutcomeCalculationMethod::VALID_CALCULATION_INTS; None: the method takes no int.
CALCULATION_INT_RANGES: dict[str, tuple[int, int] | None] = {
    "decaying_average": (1, 99),
    "weighted_average": (1, 99),
    "standard_decaying_average": (50, 99),
    "n_mastery": (1, 10),
    "highest": None,
    "latest": None,
    "average": None,
}
#: Methods whose int an *existing* outcome silently drops when it changes to them.
INT_DROPPING_METHODS = ("highest", "latest")
MAX_STRING = 255


def too_long(attribute: str, value: str | None) -> str | None:
    if value is not None and len(value) > MAX_STRING:
        return f"{attribute} is too long (maximum is {MAX_STRING} characters)"
    return None


@lru_cache(maxsize=1024)
def calculation_errors(method: str, calculation_int: int | None) -> tuple[str, ...]:
    """Canvas's model validations of an outcome's scoring, with its messages."""
    if method not in CALCULATION_INT_RANGES:
        choices = ", ".join(f'"{name}"' for name in CALCULATION_METHODS)
        return (f"Calculation method calculation_method must be one of the following: [{choices}]",)
    bounds = CALCULATION_INT_RANGES[method]
    if bounds is None:
        if calculation_int is not None:
            return ("Calculation int A calculation value is not used with this calculation method",)
        return ()
    low, high = bounds
    if calculation_int is None or not low <= calculation_int <= high:
        return (
            f"Calculation int '{calculation_int}' is not a valid value for this calculation "
            f"method. The value must be between '{low}' and '{high}'",
        )
    return ()
