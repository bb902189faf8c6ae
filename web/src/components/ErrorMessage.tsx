import { ApiError } from '../api.ts';

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.code ? `${error.message} (${error.code})` : error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

export function ErrorMessage(props: { error: unknown }) {
  if (props.error === undefined || props.error === null) return null;
  return (
    <p className="error" role="alert">
      {errorText(props.error)}
    </p>
  );
}
