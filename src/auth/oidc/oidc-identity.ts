/** Who signed in at the identity provider, as Wharf sees them. */
export interface OidcIdentity {
  /** The issuer and `sub` claim: what the account is bound to, whatever its name becomes. */
  issuer: string;
  subject: string;
  /** The `usernameclaim` value: the Wharf user name at the first login. */
  username: string;
  email: string | undefined;
  groups: string[];
  /** Member of `admingroup`. */
  admin: boolean;
}
