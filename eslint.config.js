import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '.data/**', '.cache/**', '**/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        {
          selector:
            'ImportDeclaration[source.value=/^@switchboard\\/(router|api|chat-node|persister|launcher)$/]',
          message: 'Only services import services; libs stay below them.',
        },
      ],
    },
  },
  {
    // Services compose libs and, in the launcher, other services.
    files: ['services/**/*.ts', 'loadtests/**/*.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    // The web client's React code: hooks rules, including the React Compiler's checks.
    files: ['services/web/src/**/*.{ts,tsx}'],
    ...reactHooks.configs.flat['recommended-latest'],
  },
);
