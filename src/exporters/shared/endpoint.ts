// The endpoint keys of exporter configs; parsing lives in src/config/endpoints.ts (one parser
// for `validate` and `run`).
export { httpUrl, listenAddress, parseListenAddress, type ListenAddress } from '../../config/endpoints.ts';
