/**
 * `@ringfence/client`: the typed REST client. Its code lives in src/client (the product's own build compiles it for
 * the live demo, src/service/demo-client.ts); this package is the door other code uses — the web app, bots, tests.
 */
export * from '../../../src/client/client.ts';
