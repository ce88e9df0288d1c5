import type { ServiceSource } from '../domain/types.js';

/** Reads the services the checkout describes now: directories, compose files, fingerprints. */
export interface ServiceCatalog {
  /** Every service directory under the services directory, sorted by name. */
  discover(): Promise<ServiceSource[]>;
  /** One service by directory name (already validated), or undefined if there is none. */
  find(name: string): Promise<ServiceSource | undefined>;
  /** Whether a service directory of that name holds a compose file; cheap (no hashing, no git), for request paths. */
  has(name: string): Promise<boolean>;
}
