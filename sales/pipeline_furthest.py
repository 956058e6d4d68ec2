"""How far each opportunity got: Opportunity.furthest_position, the position of the furthest open or won stage of its
pipeline it has stood in (NULL if none).

The funnel (reports.sales_reports) and its drill-down list (sales.pipeline_filters.reached_condition) count it
instead of reading every stage-history row of the period's deals (2 s a page at 1,000,000 opportunities,
bench/RESULTS.md). The stage moves keep it (sales.pipeline_services: a move only ever raises it); when an
administrator changes a pipeline's stages (inserts, reorders, merges one into another, changes a kind) the positions
it holds mean other stages, so ``furthest_refresh`` recomputes the pipeline's deals from their stage history, in a
worker (sales.tasks.refresh_furthest_positions) and in batches of ids, each its own transaction.

Only the column is written: it is left out of the audit trail (sales.models.Opportunity), so a recompute of a million
deals writes no million audit rows.
"""

from django.db import connection, transaction

from .models import Stage, StageKind

REACHING_KINDS = (StageKind.OPEN, StageKind.WON)  # a lost stage is reached only by standing in it
BATCH = 50_000  # opportunity ids per transaction

# Each deal's furthest reaching stage: the highest position among the stages of its own pipeline it has a history row
# in and the stage it stands in (GREATEST skips NULLs). Written only where it differs.
REFRESH_SQL = """
UPDATE sales_opportunity o SET furthest_position = f.furthest
FROM (
    SELECT d.id, GREATEST(MAX(hs.position), CASE WHEN cs.kind IN ('open', 'won') THEN cs.position END) AS furthest
    FROM sales_opportunity d
    JOIN sales_stage cs ON cs.id = d.stage_id
    LEFT JOIN sales_stagehistory h ON h.opportunity_id = d.id
    LEFT JOIN sales_stage hs ON hs.id = h.stage_id AND hs.pipeline_id = d.pipeline_id AND hs.kind IN ('open', 'won')
    WHERE d.id >= %s AND d.id < %s {where}
    GROUP BY d.id, cs.kind, cs.position
) f
WHERE o.id = f.id AND o.furthest_position IS DISTINCT FROM f.furthest
"""


def furthest_after(current: int | None, stage: Stage) -> int | None:
    """The furthest position of a deal that was at ``current`` and now stands in ``stage``."""
    if stage.kind not in REACHING_KINDS:
        return current
    return stage.position if current is None else max(current, stage.position)


def furthest_refresh(*, pipeline_id: int | None = None, opportunity_ids: list[int] | None = None) -> int:
    """Recompute furthest_position from the stage history: of one pipeline's deals, of some deals, or of all.
    Idempotent; each batch of ids commits on its own (outside a transaction) so a long run holds few locks at a
    time. How many rows changed."""
    where, params = "", []
    if pipeline_id is not None:
        where += " AND d.pipeline_id = %s"
        params.append(pipeline_id)
    if opportunity_ids is not None:
        if not opportunity_ids:
            return 0
        where += " AND d.id = ANY(%s)"
        params.append(list(opportunity_ids))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(id), max(id) FROM sales_opportunity d WHERE true {where}", params)
        low, high = cursor.fetchone()
    if low is None:
        return 0
    changed = 0
    for start in range(low, high + 1, BATCH):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(REFRESH_SQL.format(where=where), [start, start + BATCH, *params])
            changed += cursor.rowcount
    return changed
