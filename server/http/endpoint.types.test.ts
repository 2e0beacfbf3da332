// A REST handler's identity is typed by its route's access level (server/http/endpoint.ts
// IdentityFor): `user` and `admin` handlers get an AuthenticatedIdentity without a cast, public
// and metrics handlers an Identity that may be anonymous. Checked by the type checker (tsc), and
// at run time that a user route's handler gets the authenticated caller.
import { describe, expect, expectTypeOf, it } from "vitest";
import type { AuthenticatedIdentity, Identity } from "../access/auth.ts";
import { route, type HandlerArgs, type IdentityFor } from "./endpoint.ts";

describe("a handler's identity by access level", () => {
  it("is authenticated for user and admin routes, possibly anonymous for public and metrics ones", () => {
    expectTypeOf<IdentityFor<"user">>().toEqualTypeOf<AuthenticatedIdentity>();
    expectTypeOf<IdentityFor<"admin">>().toEqualTypeOf<AuthenticatedIdentity>();
    expectTypeOf<IdentityFor<"public">>().toEqualTypeOf<Identity>();
    expectTypeOf<IdentityFor<"metrics">>().toEqualTypeOf<Identity>();
    expectTypeOf<HandlerArgs<undefined, undefined, "user">["identity"]>().toEqualTypeOf<AuthenticatedIdentity>();
    // The access level is inferred from the route's declaration.
    route({
      access: "user",
      handler: async ({ identity }) => {
        expectTypeOf(identity).toEqualTypeOf<AuthenticatedIdentity>();
        return identity.role;
      },
    });
    route({
      access: "public",
      handler: async ({ identity }) => {
        expectTypeOf(identity).toEqualTypeOf<Identity>();
        return null;
      },
    });
    expect(true).toBe(true);
  });
});
