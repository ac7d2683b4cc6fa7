/** The client's request and answer types (src/client/types.ts: `Static` of the service's route schemas). */
export type * from '../../../src/client/types.ts';
