/**
 * An event's kind: its type, with `+` for an allowed decision and `-` for a
 * denied one (`allowed` is a decision's outcome; other events carry NULL).
 * Migration 3 indexes it, (agent_id, kind, at, event_id) and (kind, at,
 * event_id), so every filter on type and allowed is an equality on a prefix
 * of an index followed by the page order. The text must stay the migration's
 * expression exactly (the planner matches the expression to the index).
 */
export const EVENT_KIND = `(type || CASE WHEN allowed THEN '+' WHEN NOT allowed THEN '-' ELSE '' END)`;
