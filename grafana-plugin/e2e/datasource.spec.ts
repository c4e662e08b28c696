import { expect, test } from '@grafana/plugin-e2e';

/** A responder reachable from the Grafana server, and a read token for it. */
const responder = process.env.LOKIBAN_URL;
const token = process.env.LOKIBAN_API_TOKEN;

test('Save & test reaches the responder through Grafana’s data proxy with the stored token', async ({
  createDataSourceConfigPage,
  page,
}) => {
  test.skip(!responder || !token, 'needs LOKIBAN_URL and LOKIBAN_API_TOKEN (a responder Grafana can reach)');
  const configPage = await createDataSourceConfigPage({ type: 'lokiban-responder-datasource' });
  await page.getByPlaceholder('http://127.0.0.1:9797').fill(responder!);
  await page.locator('input[type="password"]').first().fill(token!);
  await expect(configPage.saveAndTest()).toBeOK();
  await expect(page.getByText(/Connected to lokiban: \d+ jail/)).toBeVisible();
});

test('a wrong token is reported as such', async ({ createDataSourceConfigPage, page }) => {
  test.skip(!responder, 'needs LOKIBAN_URL (a responder Grafana can reach)');
  const configPage = await createDataSourceConfigPage({ type: 'lokiban-responder-datasource' });
  await page.getByPlaceholder('http://127.0.0.1:9797').fill(responder!);
  await page.locator('input[type="password"]').first().fill('not-a-token-of-this-responder');
  await configPage.saveAndTest();
  await expect(page.getByText(/rejected the token/)).toBeVisible();
});
