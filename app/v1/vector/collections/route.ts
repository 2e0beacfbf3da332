import { vectorCollections } from "@/server/http/routes/vectors";

export const dynamic = "force-dynamic";
export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = vectorCollections;
