import { expect, test } from '@grafana/plugin-e2e';

test('the provisioned dashboard shows the bans panel without an error', async ({
  gotoDashboardPage,
  page,
}) => {
  const dashboard = await gotoDashboardPage({ uid: 'lokiban-bans' });
  const panel = dashboard.getPanelByTitle('Bans');
  await expect(panel.locator).toBeVisible();
  await expect(page.getByTestId('lokiban-panel').first()).toBeVisible();
  // Either bans or the empty state; never the error or "unreachable" states.
  await expect(page.getByTestId('lokiban-error')).toHaveCount(0);
  await expect(page.getByTestId('lokiban-unreachable')).toHaveCount(0);
  await expect(page.getByTestId('lokiban-count').or(page.getByTestId('lokiban-empty')).first()).toBeVisible();
});

test('the panel editor offers the logs datasource and no secret', async ({ gotoPanelEditPage, page }) => {
  await gotoPanelEditPage({ dashboard: { uid: 'lokiban-bans' }, id: '1' });
  await expect(page.getByText('Logs datasource')).toBeVisible();
  await expect(page.getByText(/token|password/i)).toHaveCount(0);
});
