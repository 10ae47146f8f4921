import { verifyJwt } from 'tokenwarden';

export default {
  async fetch(request, env) {
    const token = request.headers.get('Authorization')?.replace(/^Bearer /, '') ?? '';
    try {
      const claims = await verifyJwt(token, { jwks: env.JWKS, issuer: env.ISSUER, audience: env.AUDIENCE });
      return Response.json({ hello: claims.sub });
    } catch (e) {
      return Response.json({ error: e.code }, { status: 401, headers: { 'WWW-Authenticate': 'Bearer' } });
    }
  },
};
