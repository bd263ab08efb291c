import { z } from 'zod';

/** `alerts:` section. Owned by the alerts domain (src/alerts/): extend here. */
export const alertsSection = z.strictObject({
  rules: z.record(z.string(), z.unknown()).default({}),
  channels: z.array(z.record(z.string(), z.unknown())).default([]),
});
