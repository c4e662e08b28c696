// @vitest-environment node
/**
 * The plugins against the oldest Grafana they declare (scripts/grafana-floor.ts): the floor's
 * @grafana packages from the npm registry, installed once per lockfile in a scratch directory.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  floorVersion,
  type Incompatibility,
  installFloor,
  levitateAgainstFloor,
  reviewedFindings,
  typecheckAgainstFloor,
  unexplained,
} from '../scripts/grafana-floor';

describe(`Grafana compatibility floor`, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await installFloor();
  }, 600_000);

  it('type-checks every plugin source against the floor’s @grafana/data, ui and runtime', async () => {
    expect(floorVersion()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(await typecheckAgainstFloor(dir)).toBe('');
  }, 180_000);

  it('levitate finds no removed or changed API that the plugins use, beyond the reviewed ones', async () => {
    const found: Incompatibility[] = await levitateAgainstFloor(dir);
    const { unreviewed, stale } = unexplained(found, reviewedFindings());
    expect(unreviewed).toEqual([]);
    expect(stale).toEqual([]);
  }, 300_000);
});
