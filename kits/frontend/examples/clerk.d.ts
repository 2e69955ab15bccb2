// The part of @clerk/nextjs the example uses (its real types come with the package in a Next.js app;
// declared here so the kit type-checks without installing Next.js and Clerk).
declare module "@clerk/nextjs" {
  export function useAuth(): {
    isSignedIn: boolean | undefined;
    userId: string | null | undefined;
    getToken: (options?: { template?: string }) => Promise<string | null>;
  };
}
