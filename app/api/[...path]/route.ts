// Any path here that no other route file serves: a JSON 404 in the path's family's error shape.
import { noEndpoint } from "@/server/api/routes";

export const dynamic = "force-dynamic";
export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = noEndpoint;
