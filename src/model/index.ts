export * from './attributes.ts';
export * from './flow.ts';
export * from './cost.ts';
