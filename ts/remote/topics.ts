// Topic layout under the prefix (default kvs-edge/{deviceId}).
export interface Topics {
  prefix: string;
  commandFilter: string;
  command(name: string): string;
  accepted(name: string): string;
  rejected(name: string): string;
  status: string;
  telemetry: string;
  events: string;
}

export function expandPrefix(template: string, deviceId: string): string {
  return template.split('{deviceId}').join(deviceId);
}

export function topicsFor(prefix: string): Topics {
  return {
    prefix,
    commandFilter: `${prefix}/cmd/+`,
    command: (name) => `${prefix}/cmd/${name}`,
    accepted: (name) => `${prefix}/cmd/${name}/accepted`,
    rejected: (name) => `${prefix}/cmd/${name}/rejected`,
    status: `${prefix}/status`,
    telemetry: `${prefix}/telemetry`,
    events: `${prefix}/events`,
  };
}

/** A topic a device may publish a response to: no wildcards, no NUL, not empty, not too long. */
export function isPublishableTopic(topic: string): boolean {
  return topic.length > 0 && Buffer.byteLength(topic) <= 1024 && !/[+#\0]/.test(topic);
}
