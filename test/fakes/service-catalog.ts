import { fingerprintOf } from '../../src/domain/fingerprint.js';
import type { FileDigests, ServiceSource } from '../../src/domain/types.js';
import type { ServiceCatalog } from '../../src/ports/service-catalog.js';
import { sha256hex } from '../../src/util/digest.js';

const sha256 = sha256hex;

/** A ServiceSource as the real catalog would describe it, with overridable fields. */
export function fakeServiceSource(name: string, overrides: Partial<ServiceSource> = {}): ServiceSource {
  const files: FileDigests = overrides.files ?? { 'podman-compose.yml': sha256(`${name} compose`) };
  return {
    name,
    dir: `/env-repo/services/${name}`,
    composeFile: 'podman-compose.yml',
    runtime: 'podman',
    projectName: name.toLowerCase(),
    files,
    fingerprint: fingerprintOf(files, sha256),
    requiredEnvFiles: [],
    untrackedInputs: [],
    ...overrides,
  };
}

/** A catalog over a fixed list of services; records the names looked up. */
export class FakeServiceCatalog implements ServiceCatalog {
  readonly lookups: string[] = [];
  constructor(public services: ServiceSource[] = []) {}

  async discover(): Promise<ServiceSource[]> {
    return [...this.services].sort((a, b) => a.name.localeCompare(b.name));
  }

  async find(name: string): Promise<ServiceSource | undefined> {
    this.lookups.push(name);
    return this.services.find((service) => service.name === name);
  }

  async has(name: string): Promise<boolean> {
    this.lookups.push(name);
    return this.services.some((service) => service.name === name);
  }
}
