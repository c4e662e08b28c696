import type { HostConfig } from '../../config/schema.js';
import { type Command, safeElement, safeNetwork } from '../command.js';
import type { BanElement, EnforcementBatch } from '../port.js';
import { type Backend, normalizeBatch } from './backend.js';

type TemplateConfig = NonNullable<HostConfig['template']>;

/**
 * Replaces `{ip}`, `{family}`, `{seconds}`, `{jail}` inside each argument. Values are validated first and
 * the result stays one argv element: no shell ever sees it. `{seconds}` is 0 for a permanent ban.
 */
export function renderTemplate(argv: readonly string[], values: Record<string, string>): string[] {
  return argv.map((arg) =>
    arg.replace(/\{([a-z]+)\}/g, (whole, name: string) => {
      const value = values[name];
      if (value === undefined) throw new Error(`template placeholder ${whole} has no value here`);
      return value;
    }),
  );
}

function valuesFor(element: BanElement): Record<string, string> {
  const safe = safeElement(element);
  return {
    ip: safe.ip,
    family: String(safe.family),
    seconds: String(safe.timeoutSeconds ?? 0),
    jail: safe.jail,
  };
}

export function templateApplyCommands(template: TemplateConfig, batch: EnforcementBatch): Command[] {
  const { add, remove } = normalizeBatch(batch);
  return [
    ...remove.map((r) => ({
      argv: renderTemplate(template.remove, {
        ip: safeNetwork(r.ip, r.family),
        family: String(r.family),
        seconds: '0',
        jail: '',
      }),
    })),
    ...add.map((element) => ({ argv: renderTemplate(template.add, valuesFor(element)) })),
  ];
}

export function templateBackend(host: HostConfig): Backend {
  const template = host.template;
  if (!template)
    throw new Error(`host "${host.name}": backend "template" needs template.add and template.remove`);
  return {
    name: 'template',
    maxTimeoutSeconds: null,
    setup: () => (template.setup ? [{ run: { argv: [...template.setup] } }] : []),
    check: () => [{ argv: template.check ? [...template.check] : [template.add[0]!, '--version'] }],
    needsPresent: () => false,
    apply: (batch) => templateApplyCommands(template, batch),
    // A user command has no standard way to report its state, so the reconciler skips template hosts.
    list: () => undefined,
    parseList: () => [],
  };
}
