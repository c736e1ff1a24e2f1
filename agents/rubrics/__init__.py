"""The Plan Rubrics Learner: rubrics distilled from experience, validated against
outcomes and human labels.

* :mod:`~agents.rubrics.insights`: LLM insight extraction from successful, failed and
  paired trajectories.
* :mod:`~agents.rubrics.learner`: the rubric update loop (balanced insight batches, an
  LLM updater, evaluation, history, resume).
* :mod:`~agents.rubrics.labels`: plans and their labels: outcome labels from
  continuations after a fixed plan, and human labels exported to / imported from files.
* :mod:`~agents.rubrics.validation`: ROC-AUC and Cohen's kappa of a rubric against labels,
  the acceptance thresholds, and the validation record kept next to a rubric file
  (:func:`load_validated_rubric` refuses or warns on an unvalidated rubric).
* :mod:`~agents.rubrics.metrics`: the pure metric functions.
* :mod:`~agents.rubrics.prompts`: replaceable prompt objects and cached, logged LLM calls.

Command line: ``python -m agents.rubrics extract|label-outcomes|learn|validate|
export-labels|import-labels --help``.
"""

from agents.rubrics.insights import (
    Episode,
    Extraction,
    Insight,
    InsightExtractor,
    Rejected,
    episodes_from_trajectories,
    load_episodes,
    load_insights,
    pair_episodes,
    parse_insights,
    save_insights,
)
from agents.rubrics.labels import (
    HumanLabel,
    LabelFormatError,
    LabelImport,
    PlanFollowerPolicy,
    PlanRecord,
    RolloutContinuations,
    export_for_labelling,
    import_labels,
    label_by_outcomes,
    load_plans,
    outcome_label,
    outcome_labels,
    plans_from_trajectories,
    save_plans,
)
from agents.rubrics.learner import (
    LearnerConfig,
    LearnResult,
    RubricUpdater,
    UpdateFailure,
    learn_rubric,
    parse_rubric_answer,
    sample_balanced,
)
from agents.rubrics.metrics import cohens_kappa, held_out_kappa, roc_auc
from agents.rubrics.prompts import (
    INSIGHT_PREFILL,
    UPDATER_PREFILL,
    CachedComplete,
    InsightPrompts,
    PromptTemplate,
    hf_complete,
)
from agents.rubrics.validation import (
    Thresholds,
    UnvalidatedRubricError,
    UnvalidatedRubricWarning,
    ValidationReport,
    format_report,
    load_validated_rubric,
    outcome_evaluator,
    validate_rubric,
    write_validation,
)

__all__ = [
    "INSIGHT_PREFILL",
    "UPDATER_PREFILL",
    "CachedComplete",
    "Episode",
    "Extraction",
    "HumanLabel",
    "Insight",
    "InsightExtractor",
    "InsightPrompts",
    "LabelFormatError",
    "LabelImport",
    "LearnResult",
    "LearnerConfig",
    "PlanFollowerPolicy",
    "PlanRecord",
    "PromptTemplate",
    "Rejected",
    "RolloutContinuations",
    "RubricUpdater",
    "Thresholds",
    "UnvalidatedRubricError",
    "UnvalidatedRubricWarning",
    "UpdateFailure",
    "ValidationReport",
    "cohens_kappa",
    "episodes_from_trajectories",
    "export_for_labelling",
    "format_report",
    "held_out_kappa",
    "hf_complete",
    "import_labels",
    "label_by_outcomes",
    "learn_rubric",
    "load_episodes",
    "load_insights",
    "load_plans",
    "load_validated_rubric",
    "outcome_evaluator",
    "outcome_label",
    "outcome_labels",
    "pair_episodes",
    "parse_insights",
    "parse_rubric_answer",
    "plans_from_trajectories",
    "roc_auc",
    "sample_balanced",
    "save_insights",
    "save_plans",
    "validate_rubric",
    "write_validation",
]
