import { expect, test } from '@grafana/plugin-e2e';

test('the app page lists responder datasources or offers to add one', async ({ gotoAppPage, page }) => {
  await gotoAppPage({ pluginId: 'lokiban-app' });
  await expect(page.getByText('Responder datasources')).toBeVisible();
  const listed = page.getByTestId('lokiban-app-datasource');
  const none = page.getByTestId('lokiban-app-no-datasource');
  await expect(listed.first().or(none)).toBeVisible();
  await expect(page.getByRole('link', { name: 'Bans' }).first()).toHaveAttribute('href', /d\/lokiban-bans$/);
});
