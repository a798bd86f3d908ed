export * from './attributes.ts';
export * from './flow.ts';
