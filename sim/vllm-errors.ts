// Error bodies exactly as current vLLM writes them: {"error": {message, type, param, code}} with
// `code` the HTTP status as an integer. vLLM: entrypoints/serve/exception_handling.

export interface VllmError {
  readonly status: number;
  readonly body: { readonly error: { message: string; type: string; param: string | null; code: number } };
}

export function vllmError(status: number, type: string, message: string, param: string | null = null): VllmError {
  return { status, body: { error: { message, type, param, code: status } } };
}

/** Schema-validation failure: FastAPI's 422 turned into 400, `type` is the HTTP phrase. */
export const badRequest = (message: string, param: string | null = null): VllmError => vllmError(400, 'Bad Request', message, param);

/** A value vLLM's own checks reject (VLLMValidationError / ValueError). */
export const invalidValue = (message: string, param: string | null = null): VllmError => vllmError(400, 'BadRequestError', message, param);

export const modelNotFound = (model: string): VllmError => vllmError(404, 'NotFoundError', `The model \`${model}\` does not exist.`, 'model');

export const engineError = (message: string): VllmError => vllmError(500, 'InternalServerError', message);

const PHRASES: Record<number, string> = {
  400: 'BadRequestError',
  401: 'AuthenticationError',
  403: 'PermissionDeniedError',
  404: 'NotFoundError',
  408: 'RequestTimeout',
  422: 'UnprocessableEntityError',
  429: 'RateLimitError',
  500: 'InternalServerError',
  501: 'NotImplementedError',
  502: 'BadGateway',
  503: 'ServiceUnavailableError',
  504: 'GatewayTimeout',
};

/** An injected error (fault): the type vLLM/OpenAI would use for that status. */
export const injectedError = (status: number): VllmError => vllmError(status, PHRASES[status] ?? 'InternalServerError', `Injected fault: HTTP ${status}`);
