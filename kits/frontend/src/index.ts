export * from "./client";
export * from "./live";
export type { components, operations, paths } from "./schema";
