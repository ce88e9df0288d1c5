/** Label the server's image carries (and so its containers): how the helper tells it from sidecars. */
export const SERVER_LABEL = 'io.gitops-deploy-server.server';

/** Label on a self-update helper container: the deployment it carries out. */
export const HELPER_LABEL = 'io.gitops-deploy-server.self-update';
