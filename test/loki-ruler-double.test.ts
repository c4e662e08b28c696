import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type FakeLokiRuler, loadCapture, startFakeLokiRuler } from './support/fake-loki-ruler.js';

/**
 * The ruler double answers the requests recorded from Loki 2.7.5 as Loki did: same status, same
 * Content-Type, same body (listings compared as YAML documents, a parse error by Loki's wording).
 */
let ruler: FakeLokiRuler | undefined;
afterEach(async () => {
  await ruler?.close();
  ruler = undefined;
});

async function replay(double: FakeLokiRuler, name: string) {
  const { request, response } = loadCapture(name);
  const headers = Object.fromEntries(
    request.headers.filter(([key]) => !['host', 'content-length'].includes(key.toLowerCase())),
  );
  const answer = await fetch(`${double.url}${request.raw_target}`, {
    method: request.method,
    headers,
    ...(request.body ? { body: request.body } : {}),
  });
  const recordedType = response.headers.find(([key]) => key.toLowerCase() === 'content-type')?.[1];
  return { answer, text: await answer.text(), response, recordedType };
}

describe('the Loki ruler double', () => {
  it('replays the object-store ruler session of Loki 2.7.5', async () => {
    ruler = await startFakeLokiRuler();
    const session = [
      'ruler_s3_01_get_rules_empty',
      'ruler_s3_02_post_rule_group_ok',
      'ruler_s3_02b_post_second_group',
      'ruler_s3_02c_post_group_to_other_namespace',
      'ruler_s3_03_post_rule_group_bad_logql',
      'ruler_s3_03b_post_malformed_yaml',
      'ruler_s3_03c_post_json_content_type',
      'ruler_s3_04_get_rules_all',
      'ruler_s3_05_get_rules_namespace',
      'ruler_s3_06c_get_namespace_not_found',
      'ruler_s3_10_delete_rule_group',
      'ruler_s3_10b_delete_rule_group_again',
      'ruler_s3_12_delete_namespace',
      'ruler_s3_12b_delete_namespace_not_found',
      'ruler_s3_13_get_rules_after_deletes',
    ];
    for (const name of session) {
      const { answer, text, response, recordedType } = await replay(ruler, name);
      expect(answer.status, name).toBe(response.status);
      expect(answer.headers.get('content-type'), name).toBe(recordedType);
      if (recordedType === 'application/yaml') {
        expect(parse(text), name).toEqual(parse(response.body));
      } else if (name.endsWith('bad_logql')) {
        expect(text, name).toMatch(
          /^could not parse expression for record '' in group 'broken': parse error at line 1, col \d+: syntax error/,
        );
      } else {
        expect(text, name).toBe(response.body);
      }
    }
  });

  it('refuses writes the way a ruler on the read-only local store does', async () => {
    ruler = await startFakeLokiRuler({ localStore: true });
    const { answer, text, response } = await replay(ruler, 'ruler_local_06_post_rule_group_local_store');
    expect([answer.status, text]).toEqual([response.status, response.body]);
    const unnamed = await replay(ruler, 'ruler_local_07c_post_group_without_name');
    expect(unnamed.answer.status).toBe(500);
  });

  it('refuses a group without a name as Loki does', async () => {
    ruler = await startFakeLokiRuler();
    const { answer, text, response } = await replay(ruler, 'ruler_local_07c_post_group_without_name');
    expect([answer.status, text]).toEqual([response.status, response.body]);
  });
});
