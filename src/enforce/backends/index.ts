import type { HostConfig } from '../../config/schema.js';
import type { Backend } from './backend.js';
import { firewalldBackend } from './firewalld.js';
import { ipsetBackend } from './ipset.js';
import { nftablesBackend } from './nftables.js';
import { templateBackend } from './template.js';

export type { Backend, SetupStep } from './backend.js';

export function backendFor(host: HostConfig): Backend {
  switch (host.backend) {
    case 'nftables':
      return nftablesBackend(host);
    case 'ipset':
      return ipsetBackend();
    case 'firewalld':
      return firewalldBackend();
    case 'template':
      return templateBackend(host);
  }
}
