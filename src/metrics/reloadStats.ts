/** Reloads of secrets, process-wide (the material is shared by every listener). */
import { MATERIALS, type Material } from './metricTable.js';

export class ReloadStats {
  /** One slot per MATERIALS entry. */
  readonly succeeded = new Float64Array(MATERIALS.length);
  readonly failed = new Float64Array(MATERIALS.length);

  reloaded(material: Material): void {
    this.succeeded[MATERIALS.indexOf(material)]!++;
  }

  refused(material: Material): void {
    this.failed[MATERIALS.indexOf(material)]!++;
  }
}
