// @alicloud/fc2 ships no types; declare the few calls we make.
declare module '@alicloud/fc2' {
  interface FCConfig {
    accessKeyID: string;
    accessKeySecret: string;
    securityToken?: string;
    region: string;
    endpoint?: string;
    timeout?: number;
  }
  class FCClient {
    constructor(accountId: string, config: FCConfig);
    invokeFunction(
      service: string,
      fn: string,
      event: string | Buffer,
      headers?: Record<string, string>,
    ): Promise<{ headers: Record<string, string>; data: unknown }>;
  }
  export = FCClient;
}
