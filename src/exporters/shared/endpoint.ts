// Endpoint keys of exporters: listen addresses (from the config layer) and http(s) URLs.
import { z } from 'zod';

export { listenAddress, parseListenAddress, type ListenAddress } from '../../config/listen-address.ts';

/** An http(s) URL key. */
export const httpUrl = () =>
  z.string().refine((text) => {
    try {
      const url = new URL(text);
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch {
      return false;
    }
  }, { message: 'must be an http:// or https:// URL' });
