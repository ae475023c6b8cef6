/** Names of a restore's scratch schema and of the live tables it sets aside. */
import { createHash } from 'node:crypto';

/** The scratch schema and set-aside names of one restore job, in one deployment. */
export interface SwapNames {
  scratch: string;
  oldName(index: number): string;
}

/**
 * `deployment` separates service deployments that share a MySQL server, so one never cleans up
 * another's work: `_nmtb_r<deployment 8 hex>_<job 32 hex>` (≤ 64 characters).
 */
export function swapNames(deployment: string, jobId: string): SwapNames {
  const tag = deploymentTag(deployment);
  const job = jobId.replace(/-/g, '').toLowerCase();
  return {
    scratch: `_nmtb_r${tag}_${job}`,
    oldName: (index) => `_nmtb_o${tag}_${job}_${index}`,
  };
}

export function deploymentTag(deployment: string): string {
  return createHash('sha256').update(deployment).digest('hex').slice(0, 8);
}

/** The job id a scratch schema of this deployment belongs to, or null for any other name. */
export function jobOfScratch(deployment: string, schema: string): string | null {
  const m = new RegExp(`^_nmtb_r${deploymentTag(deployment)}_([0-9a-f]{32})$`).exec(schema);
  if (!m) return null;
  const h = m[1] as string;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
