import type { Metadata } from "next";
import { ApiReference } from "@/components/api-reference";
import { PageHeader } from "@/components/page-header";
import { openApiDocument } from "@/server/api/openapi";
import { leanRoutes } from "@/server/api/routes";

export const metadata: Metadata = { title: "API reference" };
export const dynamic = "force-dynamic";

export default function ApiReferencePage() {
  return (
    <>
      <PageHeader
        title="API reference"
        description="Every REST endpoint: methods, access, parameters, body and answer schemas, from the same OpenAPI document as /v1/openapi.json."
      />
      <ApiReference doc={openApiDocument(leanRoutes)} />
    </>
  );
}
