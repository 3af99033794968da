"""Canvas's rules for one row, as pure functions: an outcome's scoring (calculation methods,
their defaults, the rubric), the fields a row stores, the model validations and their messages,
and which columns a row would change. The planner (:mod:`.planner`) applies them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from lms_outcomes_plugin.records import GroupRecord, OutcomeRecord, Rating
from lms_outcomes_plugin.storage import OutcomeFields, StoredOutcome

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


def group_errors(record: GroupRecord) -> tuple[str, ...]:
    """Canvas's model validations of a group: its lengths."""
    messages = (too_long("Vendor guid", record.vendor_guid), too_long("Title", record.title))
    return tuple(message for message in messages if message)


def outcome_errors(record: OutcomeRecord, fields: OutcomeFields) -> tuple[str, ...]:
    """Canvas's model validations of an outcome: its scoring, then its lengths."""
    errors = calculation_errors(fields.calculation_method, fields.calculation_int)
    longest = max(len(record.vendor_guid), len(fields.title), len(fields.display_name or ""))
    if longest <= MAX_STRING:
        return errors
    lengths = (
        too_long("Vendor guid", record.vendor_guid),
        too_long("Short description", fields.title),
        too_long("Display name", fields.display_name),
    )
    return (*errors, *(message for message in lengths if message))


def outcome_fields(
    record: OutcomeRecord, prior: StoredOutcome | None, new_decaying_average: bool
) -> OutcomeFields:
    """What the row stores: its scoring with Canvas's defaults, and for an existing outcome
    the blanks and the rubric it keeps."""
    method, calculation_int = scoring(
        record.calculation_method, record.calculation_int, new_decaying_average
    )
    if prior is None:  # a new outcome (most rows of a first import), positionally
        scale = rubric(record.ratings, record.mastery_points)
        return OutcomeFields(
            record.title, record.description or None, record.display_name or None, method,
            calculation_int, scale.mastery_points, scale.points_possible, scale.ratings, "active",
        )
    if (
        record.calculation_int is not None
        and method in INT_DROPPING_METHODS
        and method != prior.calculation_method
    ):
        calculation_int = None
    ratings, mastery, possible = _scale(record, prior)
    return OutcomeFields(
        title=record.title,
        description=_keep_blank(record.description, prior.description),
        display_name=_keep_blank(record.display_name, prior.display_name),
        calculation_method=method,
        calculation_int=calculation_int,
        mastery_points=mastery,
        points_possible=possible,
        ratings=ratings,
        workflow_state="active",
    )


def _keep_blank(new: str | None, old: str | None) -> str | None:
    """Canvas's nil inference: a blank cell over a blank value changes nothing (an export
    turns nil into '')."""
    return old if not new and not old else new


def _scale(
    record: OutcomeRecord, prior: StoredOutcome
) -> tuple[tuple[tuple[float, str], ...], float | None, float | None]:
    """The rubric is rebuilt only when the file changes the ratings or the mastery points;
    changed ratings without mastery points reset mastery to the top rating (as Canvas)."""
    new_ratings = rubric(record.ratings, 0.0).ratings if record.ratings else None
    ratings_changed = new_ratings is not None and new_ratings != prior.ratings
    mastery_changed = (
        record.mastery_points is not None and record.mastery_points != prior.mastery_points
    )
    if not (ratings_changed or mastery_changed):
        return prior.ratings, prior.mastery_points, prior.points_possible
    kept = record.ratings or tuple(Rating(p, d) for p, d in prior.ratings)
    scale = rubric(kept, record.mastery_points)
    return scale.ratings, scale.mastery_points, scale.points_possible


def changed_columns(prior: StoredOutcome, fields: OutcomeFields) -> list[str]:
    """Canvas's names of the columns a row would change, in Canvas's assignment order."""
    pairs = (
        ("short_description", prior.title, fields.title),
        ("description", prior.description, fields.description),
        ("display_name", prior.display_name, fields.display_name),
        ("calculation_method", prior.calculation_method, fields.calculation_method),
        ("calculation_int", prior.calculation_int, fields.calculation_int),
        ("workflow_state", prior.workflow_state, fields.workflow_state),
        (
            "data",
            (prior.ratings, prior.mastery_points, prior.points_possible),
            (fields.ratings, fields.mastery_points, fields.points_possible),
        ),
    )
    return [name for name, old, new in pairs if old != new]
