/**
 * The algorithm names of the wire vocabulary: what `hosts` messages, the agent's persisted
 * `host=<list>@<algorithm>` and the `indirect.agent.lb.algorithm` setting may carry. The
 * protocol owns them so the codec need not know the algorithms; src/lb/ implements one per name.
 */

export const ALGORITHM_NAMES = ['static', 'roundrobin', 'shuffle', 'balanced'] as const;
export type AlgorithmName = (typeof ALGORITHM_NAMES)[number];
