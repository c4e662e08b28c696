import {
  PanelOptionsEditorBuilder,
  type StandardEditorContext,
  standardEditorsRegistry,
} from '@grafana/data';
import { describe, expect, it } from 'vitest';
import { plugin } from './module';
import { type BansPanelOptions, DEFAULT_OPTIONS } from './types';

// Grafana core registers its option editors at start-up; the builder only needs their ids here.
standardEditorsRegistry.setInit(() =>
  ['radio', 'boolean', 'number', 'text'].map((id) => ({ id, name: id, editor: () => null })),
);

function items() {
  const builder = new PanelOptionsEditorBuilder<BansPanelOptions>();
  plugin.getPanelOptionsSupplier()(builder, { data: [] } as StandardEditorContext<BansPanelOptions>);
  return builder.getItems();
}

function shown(options: Partial<BansPanelOptions>) {
  const all = { ...DEFAULT_OPTIONS, ...options };
  return items()
    .filter((item) => !item.showIf || item.showIf(all, undefined))
    .map((item) => item.path);
}

describe('bans panel options', () => {
  it('declares every option with the documented default', () => {
    const defaults = Object.fromEntries(items().map((item) => [item.path, item.defaultValue]));
    expect(defaults).toEqual(DEFAULT_OPTIONS);
  });

  it('shows the tab choice and top list length only with history', () => {
    expect(shown({ showHistory: true })).toEqual(expect.arrayContaining(['defaultTab', 'topLimit']));
    expect(shown({ showHistory: false })).not.toContain('topLimit');
    expect(shown({ showHistory: false })).not.toContain('defaultTab');
  });

  it('shows extend durations only when actions are allowed', () => {
    expect(shown({ allowActions: true })).toContain('extendDurations');
    expect(shown({ allowActions: false })).not.toContain('extendDurations');
  });

  it('keeps no secret in panel options', () => {
    expect(items().map((item) => item.path.toLowerCase())).not.toEqual(
      expect.arrayContaining([expect.stringMatching(/token|secret|password|key/)]),
    );
  });
});
